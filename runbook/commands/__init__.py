"""The CLI subcommands: composition roots that wire the procedure, the UI and the lab into the engine."""
