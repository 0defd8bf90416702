#!/bin/sh
# Registers fraudops' search attributes (the list in temporal/search-attributes.ts) on a compose Temporal.
set -eu
for attr in ModelVersion=Keyword AveragePrecision=Double Epsilon=Double LifetimeEpsilon=Double Stage=Keyword TrainDevice=Keyword TuningTrialsDone=Int; do
  name=${attr%%=*}; type=${attr#*=}
  temporal operator search-attribute create --namespace default --name "$name" --type "$type" || true
done
