"""Held-out evaluation of the bundled model: answer accuracy and whether its layers ground.

Exact match of greedy answers (base and VEA prompts) on clean held-out synthetic samples,
and the layer profile against the generated boxes (the best layers' mean AUROC), both
written into ``training.json`` beside the weights.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from vea_augment.answering.transformers_backend import TransformersBackend
from vea_augment.attribution.attributor import Attributor
from vea_augment.demo.corpus import COLOURS, Kind, SyntheticSample, generate_samples
from vea_augment.demo.training.recipe import BUNDLED_MODEL_DIR, HELD_OUT_SEED, bundled_recipe
from vea_augment.method.answer_metrics import exact_match
from vea_augment.method.layer_profile import flat_scores, view_labels
from vea_augment.models.prompting import question_text
from vea_augment.options import ModelOptions
from vea_augment.steps.profile import ProfileSample, score_attribution, summarize_profile


def answer_accuracy(backend: TransformersBackend, samples: list, style: str) -> dict[str, float]:
    """Exact match per sample kind and overall for the prompt ``style``."""
    outcomes = backend.answer_decoded(
        [question_text(s.question, style) for s in samples], [[s.image] for s in samples]
    )
    scores: dict[str, list[float]] = defaultdict(list)
    for sample, outcome in zip(samples, outcomes, strict=True):
        score = exact_match(outcome.answer or "", sample.answers) if outcome.error is None else 0.0
        scores[sample.kind].append(score)
        scores["all"].append(score)
    return {kind: sum(values) / len(values) for kind, values in scores.items()}


def picks_the_asked_object(sample: SyntheticSample, views: Any) -> bool:
    """Whether the evidence token outscores every token of the other objects in the image.

    AUROC against the background is high for any layer that looks at objects at all; this
    asks the sharper question of whether the layer looks at the object the question is about
    (chance: one in the number of objects).
    """
    scores = flat_scores(views)
    evidence = view_labels(views, sample.evidence_boxes)
    others = [item["box"] for item in sample.objects if item["box"] != sample.evidence_boxes[0]]
    distractors = view_labels(views, others) & ~evidence
    return bool(scores[evidence].max() > scores[distractors].max())


def guess_baselines(samples: list[SyntheticSample]) -> dict[str, float]:
    """Exact match of two guesses that never look for the asked object: the answered
    attribute of a random object (expected value), and the scene's commonest value of it
    (ties split evenly). EM is evidence of grounding only where it beats both."""
    any_object, commonest = [], []
    for sample in samples:
        answer = sample.answers[0]
        key = "colour" if answer in COLOURS else ("shape" if sample.kind == "shapes" else "word")
        values = [str(item[key]) for item in sample.objects]
        counts = Counter(values)
        top = [value for value, n in counts.items() if n == max(counts.values())]
        any_object.append(values.count(answer) / len(values))
        commonest.append((answer in top) / len(top))
    return {
        "any_object": sum(any_object) / len(any_object),
        "commonest_value": sum(commonest) / len(commonest),
    }


def evaluate(
    model_dir: Path,
    count: int = 200,
    kinds: tuple[Kind, ...] = ("shapes",),
    batch_size: int = 16,
) -> dict[str, Any]:
    """Held-out exact match (base and VEA prompts), the profile of every layer, and how often
    each layer's top object is the asked one."""
    options = ModelOptions(dtype="float32")
    backend = TransformersBackend.load(str(model_dir), options, batch_size=batch_size)
    samples = generate_samples(count, HELD_OUT_SEED, kinds=kinds)
    attributor = Attributor(backend.model, backend.processor, [0], model_id=str(model_dir))
    layers = list(range(attributor.num_layers))
    profiles = []
    picks = [0] * len(layers)
    for start in range(0, count, batch_size):
        batch = samples[start : start + batch_size]
        results = attributor.attribute_batch(
            [s.image for s in batch], [s.question for s in batch], layers
        )
        for sample, result in zip(batch, results, strict=True):
            profile_sample = ProfileSample(
                sample.id, sample.image, sample.question, sample.evidence_boxes, sample.answers
            )
            profiles.append(score_attribution(profile_sample, result))
            for layer in layers:
                picks[layer] += picks_the_asked_object(sample, result.layer_views[layer])
    profile = summarize_profile(profiles, [], str(model_dir), attributor.num_layers)
    best = [profile.layers[layer].auroc_mean for layer in profile.chosen_layers]
    return {
        "held_out_samples": count,
        "held_out_seed": HELD_OUT_SEED,
        "held_out_kinds": list(kinds),
        "exact_match_base_prompt": answer_accuracy(backend, samples, "base"),
        "exact_match_vea_prompt": answer_accuracy(backend, samples, "vea"),
        "exact_match_of_guesses": guess_baselines(samples),
        "chosen_layers": profile.chosen_layers,
        "chosen_layers_mean_auroc": sum(best) / len(best),
        "auroc_by_layer": [row.auroc_mean for row in profile.layers],
        "ndcg_by_layer": [row.ndcg_mean for row in profile.layers],
        "picks_the_asked_object_by_layer": [hits / count for hits in picks],
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Evaluate the bundled demo model.")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL_DIR)
    parser.add_argument("--count", type=int, default=200)
    arguments = parser.parse_args()
    kinds = tuple(bundled_recipe(arguments.model).get("kinds", ("shapes",)))
    print(json.dumps(evaluate(arguments.model, arguments.count, kinds), indent=2))


if __name__ == "__main__":
    main()
