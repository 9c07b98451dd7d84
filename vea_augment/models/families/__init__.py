"""One module per VLM family: its :class:`~vea_augment.models.adapter.FamilyAdapter`, which says
where the image tokens sit and which original pixels each covers. A module here registers
itself on import; a new family is one new file and one test."""
