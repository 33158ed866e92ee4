"""Stack layer: reads the stack configuration once and composes the components."""
