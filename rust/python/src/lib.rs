// bindings: see below
