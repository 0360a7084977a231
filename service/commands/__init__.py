"""The application's commands, one module per aggregate, combined in ``service.application``."""
