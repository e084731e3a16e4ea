"""How autocode reaches a language model: the chat client, likelihood scoring, the answer cache."""
