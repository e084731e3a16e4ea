"""`autocode llm check`: does an LLM endpoint answer, and does it honour schema-constrained output?"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from autocode.service.cli.common import console, fail

llm_app = typer.Typer(help="Check the language model the adjudicator would use.", no_args_is_help=True)


@llm_app.command("check")
def check(
    llm_url: Annotated[str, typer.Option(help="The server, e.g. http://127.0.0.1:8080/v1 (llama.cpp), http://127.0.0.1:11434/v1 (Ollama).")],
    llm_model: Annotated[str, typer.Option(help="The model name the server expects.")] = "default",
    llm_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key.")] = "AUTOCODE_LLM_API_KEY",
    llm_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each answer.")] = 60.0,
) -> None:
    """Ask the endpoint for its models and one schema-constrained answer per constraint form; say what works."""
    from autocode.classifiers.adjudicator import LLMError, answer_schema
    from autocode.service.llm.client import MODES, OpenAIChat

    probe = OpenAIChat(llm_url, llm_model, api_key_env=llm_key_env, timeout=llm_timeout)
    try:
        models = probe.models()
        console.print(f"[green]answers[/]: {probe.base_url}/models lists {', '.join(models) or 'no models'}")
    except LLMError as exc:
        fail(f"{probe.base_url} does not answer: {exc}")
    schema = answer_schema(["fees", "time"])
    messages = [{"role": "system", "content": "Reply with JSON only."},
                {"role": "user", "content": 'Candidate codes: fees, time, none. Answer to code: "they paid my course fees". '
                                            "Reply with the code, a confidence from 0 to 1 and a one-sentence reason."}]
    working = []
    for mode in MODES:
        client = OpenAIChat(llm_url, llm_model, api_key_env=llm_key_env, timeout=llm_timeout, mode=mode)
        start = time.perf_counter()
        try:
            answer = client(messages, schema)
        except LLMError as exc:
            console.print(f"[yellow]{mode}[/]: no ({exc.kind}: {str(exc)[:160]})")
            continue
        finally:
            client.close()
        ok = answer.get("code") in ("fees", "time", "none") and isinstance(answer.get("confidence"), (int, float))
        console.print(f"[{'green' if ok else 'yellow'}]{mode}[/]: {'conforms' if ok else 'answers outside the schema'} "
                      f"in {time.perf_counter() - start:.1f}s: {answer}")
        if ok:
            working.append(mode)
    if not working:
        fail("no form of schema-constrained output worked: the adjudicator would leave every item in review")
    console.print(f"schema-constrained output works with: {', '.join(working)} (auto picks the first)")
