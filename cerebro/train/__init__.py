"""Training (the shipped default model's recipe); not installed into Slicer, which only runs models."""
