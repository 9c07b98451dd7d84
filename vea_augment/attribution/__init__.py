"""Reading a VLM's attention without eager attention: the capture wrapper registered in
transformers' AttentionInterface (``capture``), the :class:`Attributor` that runs one prefill
pass per batch and returns token scores with original-pixel boxes (``attributor``), and which
decoder layers to read (``layer_choice``)."""
