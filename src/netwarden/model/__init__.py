"""Plain, frozen values shared by every layer: labels, selectors, ports, endpoints, rules."""
