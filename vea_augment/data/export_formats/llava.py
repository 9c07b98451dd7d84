"""LLaVA's instruction-tuning JSON: a list of ``{"id", "image", "conversations"}``.

``image`` is ``images/<file>``, relative to the folder holding ``llava.json``: that folder is
LLaVA's ``--image_folder``. With two images ``image`` is a list (original, highlighted) and
the human turn holds two ``<image>`` lines, the layout LLaVA-NeXT/OneVision training reads.
"""

from __future__ import annotations

from typing import Any

from vea_augment.data.export_formats.base import ExportRow, JsonRowsWriter


class LlavaWriter(JsonRowsWriter):
    """``llava.json`` + ``images/``."""

    file_name = "llava.json"
    json_list = True

    def encode(self, row: ExportRow, paths: list[str]) -> dict[str, Any]:
        return {
            "id": row.id,
            "image": paths[0] if len(paths) == 1 else paths,
            "conversations": [
                {"from": "human", "value": row.human_text()},
                {"from": "gpt", "value": row.answer},
            ],
        }
