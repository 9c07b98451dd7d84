"""The embedded default: a synthetic evidence-VQA corpus and a bundled tiny VLM trained on it."""
