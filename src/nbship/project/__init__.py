"""Detection: a project folder becomes a typed, immutable `Project`, then a `BuildPlan`."""
