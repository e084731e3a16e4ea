"""How autocode reaches a language model: one options object for the CLI and the server, and the factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autocode.classifiers.adjudicator import Adjudicator

__all__ = ["LLMOptions", "make_adjudicator", "make_chat"]


@dataclass(frozen=True)
class LLMOptions:
    """The adjudicator's settings; `url` (or `likelihood_model`) turns it on."""

    url: str | None = None  # an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1
    model: str = "default"  # the model name the server expects
    key_env: str = "AUTOCODE_LLM_API_KEY"  # the environment variable holding the API key, if the server wants one
    timeout: float = 30.0
    concurrency: int = 4
    budget: int | None = None  # most calls per run (None: no limit)
    accept: float = 0.9  # an LLM decision below this combined confidence stays in review
    mode: str = "auto"  # constrained-output form: auto, json_schema, json_object or grammar
    top_k: int = 5
    likelihood_model: str | None = None  # a GGUF file: score the candidates by likelihood instead of asking a chat model

    @property
    def enabled(self) -> bool:
        """Whether the adjudicator should run."""
        return bool(self.url or self.likelihood_model)

    @property
    def identity(self) -> str:
        """What decides the answers, for resume keys and the cache."""
        return f"likelihood:{self.likelihood_model}" if self.likelihood_model else f"chat:{self.url}:{self.model}"


def make_chat(options: LLMOptions) -> Any:
    """The chat function for these options: an OpenAI-compatible client or the likelihood scorer."""
    if options.likelihood_model:
        from autocode.service.llm.likelihood import LikelihoodChooser

        return LikelihoodChooser(options.likelihood_model)
    from autocode.service.llm.client import OpenAIChat

    return OpenAIChat(options.url or "", options.model, api_key_env=options.key_env, timeout=options.timeout, mode=options.mode)


def make_adjudicator(classifier: Any, options: LLMOptions, *, chat: Any = None, cache: Any = None) -> Adjudicator:
    """Wrap `classifier` so its review items go to the model; answers cached in AUTOCODE_HOME."""
    from autocode.service.llm.cache import LLMCache

    return Adjudicator(classifier, chat or make_chat(options), model=options.identity, cache=cache if cache is not None else LLMCache(),
                       top_k=options.top_k, budget=options.budget, max_concurrency=options.concurrency, accept=options.accept)
