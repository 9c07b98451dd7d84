"""ShareGPT JSON lines for LLaMA-Factory, in both of its shapes, and their dataset_info entry.

- ``sharegpt.jsonl``: ``{"id", "conversations": [{"from": "human"|"gpt", "value"}], "images"}``
  (LLaMA-Factory's default sharegpt tags),
- ``sharegpt-messages.jsonl``: ``{"id", "messages": [{"role": "user"|"assistant",
  "content"}], "images"}`` (the OpenAI-style tags).

``images`` is always a list of ``images/<file>`` paths relative to the file's folder, one
``<image>`` per image in the user turn. On commit the writer adds its entry (``formatting``
sharegpt, ``columns`` and ``tags``) to ``dataset_info.json`` in the same folder, keeping any
other entry there, so the folder can be LLaMA-Factory's ``dataset_dir`` as it is (images
resolve against ``media_dir``, which defaults to ``dataset_dir``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from vea_augment.data.export_formats.base import ExportRow, JsonRowsWriter, write_bytes_atomic

DATASET_INFO = "dataset_info.json"


class ShareGPTWriter(JsonRowsWriter):
    """``sharegpt.jsonl`` + ``images/`` + its ``dataset_info.json`` entry (from/value)."""

    file_name = "sharegpt.jsonl"
    dataset_name: ClassVar[str] = "vea_sharegpt"
    messages_column: ClassVar[str] = "conversations"
    tags: ClassVar[dict[str, str]] = {
        "role_tag": "from",
        "content_tag": "value",
        "user_tag": "human",
        "assistant_tag": "gpt",
    }

    def _turn(self, role_tag: str, text: str) -> dict[str, str]:
        return {self.tags["role_tag"]: self.tags[role_tag], self.tags["content_tag"]: text}

    def encode(self, row: ExportRow, paths: list[str]) -> dict[str, Any]:
        return {
            "id": row.id,
            self.messages_column: [
                self._turn("user_tag", row.human_text()),
                self._turn("assistant_tag", row.answer),
            ],
            "images": paths,
        }

    def dataset_info_entry(self) -> dict[str, Any]:
        """LLaMA-Factory's description of this file (``dataset_info.json``)."""
        return {
            "file_name": self.file_name,
            "formatting": "sharegpt",
            "columns": {"messages": self.messages_column, "images": "images"},
            "tags": dict(self.tags),
        }

    def _extras(self) -> list[Path]:
        path = self.output / DATASET_INFO
        entries: dict[str, Any] = {}
        if path.is_file():
            try:
                found = json.loads(path.read_text(encoding="utf-8"))
                entries = found if isinstance(found, dict) else {}
            except (OSError, ValueError):
                entries = {}
        entries[self.dataset_name] = self.dataset_info_entry()
        text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
        write_bytes_atomic(path, text.encode("utf-8"))
        return [path]


class ShareGPTMessagesWriter(ShareGPTWriter):
    """``sharegpt-messages.jsonl`` + ``images/`` + its entry (role/content, user/assistant)."""

    file_name = "sharegpt-messages.jsonl"
    dataset_name = "vea_sharegpt_messages"
    messages_column = "messages"
    tags: ClassVar[dict[str, str]] = {
        "role_tag": "role",
        "content_tag": "content",
        "user_tag": "user",
        "assistant_tag": "assistant",
    }
