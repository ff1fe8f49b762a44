"""What the operator supplies: the params file, its one schema, field checks, safe YAML reading."""
