"""dlae sweep: search over config parameters with Optuna (spec, checks, study, runner, trial, launch, report, plots)."""
