"""Review: the queue of answers the model set aside, decided by a person, learned from at once, exported."""

from pathlib import Path

PAGE_DIR = Path(__file__).resolve().parent  # templates/ and static/ of the review page
