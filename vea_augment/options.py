"""Every default of the tool, and the option objects its commands are built from.

The command line reads its defaults from here, the jobs and steps use the same names, so a
default is changed in one place. The paper's post-processing defaults (α = 0.5, σ = 0.5,
λ = 10, Eqs. 2-4) belong to :class:`~vea_augment.method.types.MaskConfig`, and the scoring
protocols' parameters (ANLS τ = 0.5, ChartQA's 5 % tolerance) to their protocol modules in
``vea_augment.method.protocols``, next to the math they parameterise; they are re-exported
here so that one import finds every default.

Nothing here imports torch at module level: the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from vea_augment.method.labels import DEFAULT_LABEL_RULE, LabelRule
from vea_augment.method.protocols import PROTOCOLS
from vea_augment.method.protocols.anls import THRESHOLD as ANLS_THRESHOLD
from vea_augment.method.protocols.relaxed import TOLERANCE as RELAXED_TOLERANCE
from vea_augment.method.types import BOUNDARY_MODES, BoundaryMode, MaskConfig

# Reading input
SAMPLES_PER_SHARD = 1000
"""Samples per shard when the input is JSONL, JSON or a table (a tar shard keeps its size)."""
MAX_IMAGE_PIXELS = 100_000_000
"""Decompression-bomb limit: Visual-CoT holds images of about 35 Mpx, bombs have far more."""
InputFormat = Literal["auto", "webdataset", "jsonl", "json", "llava", "parquet", "arrow", "hf"]
INPUT_FORMAT: InputFormat = "auto"
"""``auto`` recognises the input by its content (magic bytes, first characters, folder files)."""
SPLIT: str | None = None
"""Hugging Face split: None takes the only split there is (several are an error)."""
HF_CONFIG: str | None = None
"""Hugging Face configuration (subset), e.g. ``InfographicVQA`` of ``lmms-lab/DocVQA``."""

# Sample isolation (issue 16): limits that turn a hostile sample into an error record
MAX_DECODED_BYTES = 1 << 30
"""Per-actor budget for one decoded image (width x height x bands x bytes per band, read
from the header before decoding): a 100 Mpx 8-bit RGB page fits, a 16-bit RGBA bomb does not."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects a JSON record may have (records are a few levels deep)."""
MAX_JSON_INT_DIGITS = 100
"""Most digits of one JSON integer (ids are far shorter; huge ints cost quadratic time)."""
MAX_KEY_LENGTH = 160
"""Longest output key: with ``.orig.jpeg``-style extensions a member name stays < 255 bytes."""

# Columns of a table input (parquet, save_to_disk, hub): candidates in order, first present wins
QUESTION_FIELDS = ("question", "query")
"""TextVQA, DocVQA and InfoVQA call it ``question``, ChartQA ``query``."""
ANSWERS_FIELDS = ("answers", "answer", "label")
"""A list (TextVQA, DocVQA, InfoVQA ``answers``; ChartQA ``label``) or one string."""
IMAGE_FIELDS = ("image", "images")
"""An ``Image`` feature (bytes and/or path), raw bytes, a path, or a list holding one."""
BOXES_FIELDS = ("evidence_boxes", "bboxs")
"""Pixel xyxy evidence boxes (optional: none of these present means no boxes)."""
ID_FIELDS = ("id", "question_id", "questionId")
"""TextVQA ``question_id``, DocVQA and InfoVQA ``questionId``; none present (ChartQA): the
file (or split) name and the row number."""

# Where input may come from (data/opening.py, data/readers/image_paths.py): issue 16
UNTRUSTED_SCHEMES = ("file", "http", "https", "s3", "gs", "gcs", "hf")
"""URL schemes a data file (a manifest's input, a record) may name; ``pipe:`` and any other
scheme come only from the user's own command line."""
ALLOW_EXTERNAL_IMAGES = False
"""Image paths of JSONL/JSON/LLaVA records and table path columns must resolve (symlinks
followed) inside the image root; ``--allow-external-images`` lifts this."""
REMOTE_CONNECT_TIMEOUT_S = 30.0
"""Seconds to connect to the server of an http(s)/s3 shard."""
REMOTE_READ_TIMEOUT_S = 60.0
"""Seconds a remote shard's server may stay silent (before its reply, or between two reads)."""
REMOTE_TOTAL_TIMEOUT_S = 3600.0
"""Seconds one remote shard may take to arrive in full."""

# Where results go by default
PROFILE_OUTPUT = "profile.json"
PREDICTIONS_OUTPUT = "predictions.jsonl"
DEMO_OUTPUT = "vea-demo"

# Loading a model
DTYPE = "auto"
"""``auto`` is bfloat16 on CUDA and float32 on the CPU."""
ATTN_IMPLEMENTATION = "sdpa"
"""The attention kernel the model runs; the capture wrapper wraps it. ``eager`` has no entry
in transformers' ``AttentionInterface`` to wrap, so with ``eager`` the language model's
capture wraps sdpa (same rows within float32 rounding; the vision tower stays eager)."""
ATTN_IMPLEMENTATIONS = ("sdpa", "flash_attention_2", "flex_attention", "eager")
"""What ``--attn-implementation`` accepts."""
PROCESSOR_PIXELS_CEILING = 50_000_000
"""A ``--min-pixels``/``--max-pixels`` processor budget above this is refused: it is almost
surely the old meaning of ``--max-pixels`` (now ``--max-image-pixels``, a bomb limit)."""
GPUS_PER_ACTOR = 1
"""GPUs each model actor reserves; above 1 the model is spread over them (``device_map``)."""
DEVICE_MEMORY_FRACTION = 0.85
"""Share of each GPU's free memory a spread model's weights may take (the rest: activations)."""

# Attribution, profiling and analysis
ATTRIBUTION_BATCH_SIZE = 4
"""Samples per prefill pass in profile, augment and analyze."""
PROFILE_LIMIT = 100
"""Samples with evidence boxes to profile on (the paper uses about 100)."""
TOP_FRAC = 0.1
"""Keep the top ceil(TOP_FRAC x L) layers by mean AUROC (the paper's L_VG)."""
LABEL_RULE: LabelRule = DEFAULT_LABEL_RULE
"""A token is evidence when any of its box lies inside an evidence box (method/labels.py)."""

# Augment
OnError = Literal["passthrough", "skip"]
ON_ERROR: OnError = "passthrough"
"""A failed sample is written unhighlighted with an error sidecar (or left out: ``skip``)."""
MAX_SHARD_ATTEMPTS = 3
"""Tries per shard before the job reports it failed (an actor that died is replaced)."""

# Mask border handling and mask quality (issue 17)
BOUNDARY: BoundaryMode = MaskConfig().boundary
"""``--boundary``, the Eq. 3 blur at the image border: ``reflect`` (the paper's; at its sigma a
hot token's peak drifts to the nearest edge or corner), ``constant`` (zeros: the peak stays
on the token) or ``normalized`` (normalised convolution); ``BOUNDARY_MODES`` lists them. Each
sample's mask quality (pixel AUROC/NDCG against its evidence boxes) goes in its sidecar."""

# Job lifecycle (issue 16): output identity, the output lock, interrupts
LOCK_HEARTBEAT_S = 5.0
"""How often a running job's driver refreshes the heartbeat in its output's ``_lock.json``."""
LOCK_STALE_HEARTBEATS = 6
"""A lock whose heartbeat is older than this many periods (30 s) is stale and taken over."""
ACTOR_EXIT_WAIT_S = 10.0
"""How long an interrupted job waits for its killed actors to be gone before it removes their
temporary files (a live actor could still be writing one)."""

# Profile chooses the post-processing; augment's --preset (issue 17 item 3)
GRID_SIGMAS: tuple[float, ...] = (0.5, 0.25, 0.1, 0.05)
"""Eq. 3 sigmas ``profile`` tries (fractions of the shorter side; the first is the paper's)."""
GRID_LAMBDAS: tuple[float | None, ...] = (10.0, None)
"""Eq. 2 lambdas ``profile`` tries; None is denoise off (the first is the paper's)."""
GRID_BOUNDARIES: tuple[BoundaryMode, ...] = BOUNDARY_MODES
"""Eq. 3 border modes ``profile`` tries (the first, ``reflect``, is the paper's)."""
GRID_TIE_EPSILON = 0.005
"""Grid points whose mean pixel AUROC is within this of the best tie; of those the one with
the fewest changes from the paper's values wins (the paper's own first), then the higher
AUROC, then grid order."""
MaskPreset = Literal["paper", "profile"]
MASK_PRESET: MaskPreset | None = None
"""augment's ``--preset``: None is ``profile`` when ``--profile`` holds a post-processing
choice, else ``paper`` (MaskConfig's defaults); explicit mask options win over either."""

# Answer
METHODS = "base,inst,vea"
"""The answering methods of the paper's comparison, in report order."""
MAX_NEW_TOKENS = 50
"""The paper's answer budget: greedy decoding, at most 50 new tokens."""
ANSWER_BATCH_SIZE = 8
"""Prompts per ``generate()`` call of the transformers backend."""
API_KEY_ENV = "OPENAI_API_KEY"
ENDPOINT_TIMEOUT_S = 60.0
ENDPOINT_ATTEMPTS = 3
ENDPOINT_BACKOFF_S = 0.5
ENDPOINT_CONCURRENCY = 8

# Answer: the endpoint client's limits (issue 16; answering/http_client.py)
ENDPOINT_BACKOFF_CAP_S = 8.0
"""The longest pause between two tries when the server says nothing (exponential backoff)."""
ENDPOINT_RETRY_AFTER_CAP_S = 30.0
"""The longest pause a server's ``Retry-After`` (seconds or HTTP-date) can ask for."""
ENDPOINT_MAX_REDIRECTS = 3
"""Same-origin redirects followed per try (the POST is re-sent; other origins are refused)."""
ENDPOINT_MAX_REPLY_BYTES = 1_048_576
"""The largest reply body read (a 50-token answer is a few kB); a larger one is an error."""
ENDPOINT_ERROR_EXCERPT_CHARS = 200
"""How much of a refusal's body (HTTP 4xx/5xx) an error record quotes."""

# Score
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
SCORE_PROTOCOLS = "paper,strict,anls,vqa,relaxed"
"""The protocols a score report shows when none are chosen, each where it applies (``vqa``
where every sample has ten references, ``relaxed`` on chart datasets). The first one's
headline metric (the paper's EM) decides wins/losses and the seeing-not-believing split."""
SCORE_PROTOCOL_CHOICES: tuple[str, ...] = tuple(PROTOCOLS)
ANALYZE_PROTOCOL = "paper"
"""Which protocol's headline metric decides whether ``analyze`` counts an answer as right:
the paper's EM, as the paper's own right/wrong split."""
"""Every protocol ``--protocols`` accepts (``vea_augment.method.protocols``)."""

# Demo
DEMO_SAMPLES = 48
"""Synthetic samples per condition: a few minutes on two CPU cores."""
DEMO_DEGRADATION = "noise"
"""The degraded condition of the paper's robustness experiment the demo shows."""
# Demo results (issue 17 item 6): the demo table and its contact sheet
DEMO_SHEET_SAMPLES = 4
"""Clean samples the demo's contact sheet shows (token map beside both final masks)."""

# Export (augmented shards -> fine-tuning layouts)
ExportFormat = Literal["llava", "sharegpt", "sharegpt-messages", "parquet"]
EXPORT_FORMAT: ExportFormat = "llava"
"""LLaVA JSON + images/, ShareGPT JSONL (from/value or role/content) + images/, or parquet."""
ExportImages = Literal["highlighted", "original", "both"]
EXPORT_IMAGE: ExportImages = "highlighted"
"""``both`` shows the original first, then the highlighted image (the vea-both method)."""
ExportPrompt = Literal["question", "vea"]
EXPORT_PROMPT: ExportPrompt = "vea"
"""The human turn: the plain question, or the VEA prompt (models.prompting.question_text)."""
ReferenceRule = Literal["first", "most-frequent"]
EXPORT_REFERENCE: ReferenceRule = "most-frequent"
"""The answer trained on: the first reference, or the most frequent one (method.references)."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of a table input holds each field of the input contract.

    Each field is an ordered tuple of candidate column names: the first one the table has
    wins. Question and image are required; answers, boxes and id are optional.
    """

    question: tuple[str, ...] = QUESTION_FIELDS
    answers: tuple[str, ...] = ANSWERS_FIELDS
    image: tuple[str, ...] = IMAGE_FIELDS
    boxes: tuple[str, ...] = BOXES_FIELDS
    id: tuple[str, ...] = ID_FIELDS

    @classmethod
    def from_config(cls, config: dict[str, list[str]] | None) -> ColumnMapping:
        """The mapping a manifest recorded (``dataclasses.asdict``), defaults where absent."""
        return cls(**{name: tuple(names) for name, names in (config or {}).items()})


@dataclass(frozen=True)
class RemoteDeadlines:
    """How long a remote shard read may take: to connect, between replies, in all."""

    connect_s: float = REMOTE_CONNECT_TIMEOUT_S
    read_s: float = REMOTE_READ_TIMEOUT_S
    total_s: float = REMOTE_TOTAL_TIMEOUT_S


@dataclass(frozen=True)
class InputOptions:
    """How to read an input: what it is, how it is cut into shards, which columns mean what.

    The same options give the same shards (shard N always holds the same samples), so a job
    records them in its manifest (:meth:`to_config`) and re-plans from there.
    """

    samples_per_shard: int = SAMPLES_PER_SHARD
    image_root: str | None = None
    input_format: InputFormat = INPUT_FORMAT
    split: str | None = SPLIT
    hf_config: str | None = HF_CONFIG
    columns: ColumnMapping = field(default_factory=ColumnMapping)
    allow_external_images: bool = ALLOW_EXTERNAL_IMAGES
    """Read record image paths outside the image root (absolute, ``..``, symlinks out)."""
    deadlines: RemoteDeadlines = field(default_factory=RemoteDeadlines)
    """Timeouts of remote shard reads (not recorded: they decide no shard's contents)."""

    def to_config(self) -> dict[str, Any]:
        """The options as a manifest records them (plain JSON values)."""
        config = {name: getattr(self, name) for name in _PLANNING_FIELDS}
        config["columns"] = {name: list(names) for name, names in vars(self.columns).items()}
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputOptions:
        """The options a manifest recorded; defaults for what a manifest written before an
        option existed lacks (``samples_per_shard`` is required)."""
        recorded = {name: config[name] for name in _PLANNING_FIELDS if config.get(name)}
        recorded["samples_per_shard"] = int(config["samples_per_shard"])
        return cls(**recorded, columns=ColumnMapping.from_config(config.get("columns")))


_PLANNING_FIELDS = (
    "samples_per_shard",
    "image_root",
    "input_format",
    "split",
    "hf_config",
    "allow_external_images",
)


def default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``: the one place the default is decided."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class ModelOptions:
    """How to load any model, for attribution and answering alike.

    ``device`` None means :func:`default_device` on the machine that loads the model (each
    Ray actor decides for itself, so a CPU driver can plan a GPU job).
    """

    dtype: str = DTYPE
    device: str | None = None
    trust_remote_code: bool = False
    attn_implementation: str = ATTN_IMPLEMENTATION
    local_files_only: bool = False
    revision: str | None = None
    """Hub revision (branch, tag or commit) of the model and its processor."""
    min_pixels: int | None = None
    """Qwen-style processors: the fewest pixels an image is resized to (None: the checkpoint's)."""
    max_pixels: int | None = None
    """Qwen-style processors: the most pixels an image is resized to (None: the checkpoint's)."""
    device_map: Literal["auto"] | None = None
    """``auto``: spread the model over every visible device (``models/placement.py``) instead
    of moving it to ``device``; a model actor holding several GPUs sets it."""

    def resolved_device(self) -> str:
        """The device to load on: the one given, else :func:`default_device`."""
        return self.device or default_device()


__all__ = [
    "ACTOR_EXIT_WAIT_S",
    "ALLOW_EXTERNAL_IMAGES",
    "ANALYZE_PROTOCOL",
    "ANLS_THRESHOLD",
    "ANSWERS_FIELDS",
    "ANSWER_BATCH_SIZE",
    "API_KEY_ENV",
    "ATTN_IMPLEMENTATION",
    "ATTN_IMPLEMENTATIONS",
    "ATTRIBUTION_BATCH_SIZE",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "BOUNDARY",
    "BOUNDARY_MODES",
    "BOXES_FIELDS",
    "DEMO_DEGRADATION",
    "DEMO_OUTPUT",
    "DEMO_SAMPLES",
    "DEMO_SHEET_SAMPLES",
    "DEVICE_MEMORY_FRACTION",
    "DTYPE",
    "ENDPOINT_ATTEMPTS",
    "ENDPOINT_BACKOFF_CAP_S",
    "ENDPOINT_BACKOFF_S",
    "ENDPOINT_CONCURRENCY",
    "ENDPOINT_ERROR_EXCERPT_CHARS",
    "ENDPOINT_MAX_REDIRECTS",
    "ENDPOINT_MAX_REPLY_BYTES",
    "ENDPOINT_RETRY_AFTER_CAP_S",
    "ENDPOINT_TIMEOUT_S",
    "EXPORT_FORMAT",
    "EXPORT_IMAGE",
    "EXPORT_PROMPT",
    "EXPORT_REFERENCE",
    "GPUS_PER_ACTOR",
    "GRID_BOUNDARIES",
    "GRID_LAMBDAS",
    "GRID_SIGMAS",
    "GRID_TIE_EPSILON",
    "HF_CONFIG",
    "ID_FIELDS",
    "IMAGE_FIELDS",
    "INPUT_FORMAT",
    "LABEL_RULE",
    "LOCK_HEARTBEAT_S",
    "LOCK_STALE_HEARTBEATS",
    "MASK_PRESET",
    "MAX_IMAGE_PIXELS",
    "MAX_NEW_TOKENS",
    "MAX_SHARD_ATTEMPTS",
    "METHODS",
    "ON_ERROR",
    "PREDICTIONS_OUTPUT",
    "PROCESSOR_PIXELS_CEILING",
    "PROFILE_LIMIT",
    "PROFILE_OUTPUT",
    "QUESTION_FIELDS",
    "RELAXED_TOLERANCE",
    "REMOTE_CONNECT_TIMEOUT_S",
    "REMOTE_READ_TIMEOUT_S",
    "REMOTE_TOTAL_TIMEOUT_S",
    "SAMPLES_PER_SHARD",
    "SCORE_PROTOCOLS",
    "SCORE_PROTOCOL_CHOICES",
    "SPLIT",
    "TOP_FRAC",
    "UNTRUSTED_SCHEMES",
    "BoundaryMode",
    "ColumnMapping",
    "InputFormat",
    "InputOptions",
    "LabelRule",
    "MaskConfig",
    "MaskPreset",
    "ModelOptions",
    "OnError",
    "RemoteDeadlines",
    "default_device",
]
