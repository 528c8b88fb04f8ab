"""Model families. Each module registers its builders with ``zoo.register_model``;
``zoo.registry`` imports every module here, so a new family is a new file."""
