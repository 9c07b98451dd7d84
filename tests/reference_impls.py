"""The reference implementations the scoring protocols are checked against, loaded offline.

* lmms-eval (installed with ``--no-deps``): importing its task packages pulls torch, datasets
  and more, so the files are read from the installed wheel instead. Its EvalAI processor
  (``tasks/_task_utils/vqa_eval_metric.py``) imports only ``re`` and is loaded as a module by
  file; ``anls`` (``api/metrics.py``), ``textvqa_process_results`` and ChartQA's
  ``relaxed_correctness`` are taken out of their files with ``ast`` and run unchanged.
* qa-metrics (installed with ``--no-deps``; its own pins would downgrade scikit-learn):
  importing it calls ``nltk.download`` for tagger, tokeniser and WordNet data, which cannot
  work offline, so the call is stubbed for the import. ``em_match`` then runs as released;
  its F1 needs NLTK data at call time (see :func:`qa_metrics_f1_without_nltk_data`).

A missing reference package skips its tests, except under ``VEA_REQUIRE_REFERENCES=1``
(``.ci/run`` sets it), where it fails them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

REQUIRE_ENV = "VEA_REQUIRE_REFERENCES"


def reference_package(name: str) -> ModuleType:
    """Import ``name``: skip when missing, fail instead under ``VEA_REQUIRE_REFERENCES=1``."""
    if os.environ.get(REQUIRE_ENV) == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name)


def lmms_eval_path(relative: str) -> Path:
    """A file of the installed lmms-eval wheel (the package's ``__init__`` is empty)."""
    package = reference_package("lmms_eval")
    return Path(package.__file__).parent / relative


def _module_from_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def function_from_file(path: Path, name: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """The top-level function ``name`` of ``path``, compiled alone (decorators dropped) and run
    with ``namespace`` as its globals: the released code without its module's imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    node.decorator_list = []
    code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec")
    scope = dict(namespace)
    exec(code, scope)
    return scope[name]


@cache
def evalai_processor() -> Any:
    """lmms-eval's ``EvalAIAnswerProcessor()``, loaded by file."""
    path = lmms_eval_path("tasks/_task_utils/vqa_eval_metric.py")
    return _module_from_file("reference_vqa_eval_metric", path).EvalAIAnswerProcessor()


@cache
def lmms_anls() -> Callable[..., dict[str, float]]:
    """lmms-eval's ``anls(references, predictions, thresh_hold=0.5)`` with its Levenshtein."""
    path = lmms_eval_path("api/metrics.py")
    distance = function_from_file(path, "levenshtein_distance", {})
    return function_from_file(path, "anls", {"levenshtein_distance": distance})


@cache
def lmms_textvqa_accuracy() -> Callable[[str, list[str]], float]:
    """lmms-eval's TextVQA scoring (``textvqa_process_results``) as (prediction, answers)."""
    path = lmms_eval_path("tasks/textvqa/utils.py")
    namespace = {
        "EvalAIAnswerProcessor": type(evalai_processor()),
        "statistics": statistics,
    }
    process = function_from_file(path, "textvqa_process_results", namespace)

    def accuracy(prediction: str, answers: list[str]) -> float:
        doc = {"answers": list(answers), "question_id": 0}
        return process(doc, [prediction])["exact_match"]

    return accuracy


@cache
def lmms_relaxed_correctness() -> Callable[..., bool]:
    """ChartQA's ``relaxed_correctness(prediction, target, max_relative_change=0.05)``."""
    path = lmms_eval_path("tasks/chartqa/utils.py")
    return function_from_file(path, "relaxed_correctness", {})


@contextmanager
def _nltk_downloads_stubbed() -> Iterator[None]:
    nltk = reference_package("nltk")
    original = nltk.download
    nltk.download = lambda *args, **kwargs: True
    try:
        yield
    finally:
        nltk.download = original


@cache
def qa_metrics() -> SimpleNamespace:
    """qa-metrics' ``em``, ``f1`` and ``utils.tools`` modules, imported without downloads."""
    reference_package("regex")
    reference_package("contractions")
    with _nltk_downloads_stubbed():
        package = reference_package("qa_metrics")
        em = importlib.import_module("qa_metrics.em")
        f1 = importlib.import_module("qa_metrics.f1")
        tools = importlib.import_module("qa_metrics.utils.tools")
    return SimpleNamespace(package=package, em=em, f1=f1, tools=tools)


@contextmanager
def qa_metrics_f1_without_nltk_data(
    lemma: Callable[[str], str],
) -> Iterator[Callable[[str, str], float]]:
    """qa-metrics' ``f1_score(reference, candidate)`` with only its data-driven parts swapped.

    Its ``lemmatize_text`` runs as released, but NLTK's tokeniser runs without the Punkt
    sentence splitter (``preserve_line=True``: the normalised text has no sentence-ending
    punctuation left for it to split on), and the per-word tagger + WordNet lemmatiser, which
    need downloaded data, are replaced by ``lemma``. So this checks normalisation,
    tokenisation and the set-based F1 against the release; the lemmas are pinned separately.
    """
    reference = qa_metrics()
    tools = reference.tools
    nltk = reference_package("nltk")
    from nltk.tokenize import word_tokenize

    saved = (tools.word_tokenize, tools.lemmatizer, tools.wordnet, nltk.pos_tag)
    tools.word_tokenize = lambda text: word_tokenize(text, preserve_line=True)
    tools.lemmatizer = SimpleNamespace(lemmatize=lambda word, pos: lemma(word))
    tools.wordnet = SimpleNamespace(ADJ="a", NOUN="n", VERB="v", ADV="r")
    nltk.pos_tag = lambda words: [(word, "NN") for word in words]
    try:
        yield reference.f1.f1_score
    finally:
        tools.word_tokenize, tools.lemmatizer, tools.wordnet, nltk.pos_tag = saved
