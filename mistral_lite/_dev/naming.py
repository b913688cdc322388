"""The naming rule of imported operations: one snake_case ``verb_object`` name per spec operation.

Maintainer tooling (read by ``python -m mistral_lite.spec import``); the client never imports it.

The rule, applied in order:

1. A curated name from ``spec_overrides.toml`` (``[names]``, keyed by ``"METHOD /path"``) wins.
2. Otherwise the spec's summary, when it is a short verb phrase (at most six words once the
   articles and fillers ``a an the new all existing`` are dropped, and no sentence punctuation
   inside): its words in snake_case (``"ListPromptVersions"`` and ``"List Prompt Versions"`` both
   give ``list_prompt_versions``), with two normalisations: ``retrieve`` becomes ``get``, and a
   ``get`` of a collection (a ``GET`` whose path does not end in a parameter, with a plural last
   word) becomes ``list`` (``"Get Batch Jobs"`` gives ``list_batch_jobs``).
3. Otherwise the method and the path: ``list``/``create`` for a ``GET``/``POST`` on a collection,
   ``get``/``update``/``replace``/``delete`` for an item, then the path's static words.

Names that the rule makes unreadable are curated in step 1; the rule never renames a row that
is already in the table.
"""

from __future__ import annotations

import re

__all__ = ["derive_name", "summary_words"]

_STOP = frozenset({"a", "an", "the", "new", "all", "existing"})
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_MAX_WORDS = 6
_ITEM_VERBS = {"GET": "get", "PATCH": "update", "PUT": "replace", "DELETE": "delete", "POST": "post"}


def summary_words(summary: str) -> list[str] | None:
    """The summary's words, lowercased, when it reads as a short verb phrase; else None."""
    text = summary.strip().rstrip(".")
    if not text or re.search(r"[,;:()/]|\.\s", text):
        return None
    words = [w.lower() for token in text.split() for w in _CAMEL.findall(token)]
    words = [w for w in words if w not in _STOP]
    if not words or len(words) > _MAX_WORDS:
        return None
    return words


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("ses") or word.endswith("xes"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _path_words(path: str) -> list[str]:
    parts = [p for p in path.split("#")[0].split("/")[2:] if p and not p.startswith("{")]
    return [w for p in parts for w in re.split(r"[-_.]", p.lower()) if w]


def _from_path(method: str, path: str) -> str:
    bare = path.split("#")[0]
    item = bare.endswith("}")
    words = _path_words(bare)
    if item:
        verb = _ITEM_VERBS[method]
        words = [*words[:-1], _singular(words[-1])] if words else words
    else:
        verb = {"GET": "list", "POST": "create"}.get(method, _ITEM_VERBS[method])
        if verb == "create" and words:
            words = [*words[:-1], _singular(words[-1])]
    return "_".join([verb, *words])


def derive_name(method: str, path: str, summary: str) -> str:
    """The rule's name for one operation (steps 2 and 3 above)."""
    words = summary_words(summary)
    if words is None or len(words) < 2:
        return _from_path(method, path)
    if words[0] == "retrieve":
        words[0] = "get"
    collection = not path.split("#")[0].endswith("}")
    if words[0] == "get" and method == "GET" and collection and words[-1].endswith("s"):
        words[0] = "list"
    return "_".join(words)
