"""Built-in presets: answer files (YAML) shipped with kmwizard."""
