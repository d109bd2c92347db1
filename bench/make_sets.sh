#!/usr/bin/env bash
# Make the audio of the two halves of the harder evaluation set (bench/sets/tune and bench/sets/holdout), and of
# bench/sets/fresh (8 more talks, written after the holdout's last measurement, for one more untouched look), and of
# bench/sets/unseen (8 more, written blind on 2026-12-05 and measured once: docs/benchmarks.md), and of
# bench/sets/overlap (8 talks on one theme, GPU scheduling and power, whose sentences echo each other across talks:
# written blind on 2026-12-05, measured once), of bench/sets/blind (8 talks on HPC and cluster operations, written
# blind on 2026-12-06 by a helper who had read none of the other sets, measured once), of bench/sets/blind2 (8
# longer talks from one narrow field, storage and parallel file systems, written blind on 2026-12-06) and of
# bench/sets/blind3 (8 seminar and podcast conversations, a host and guests in their own voices, the same day),
# and of three more written blind on 2026-12-06 and measured once each: bench/sets/blind4 (8 hands-on tutorials that
# say commands, flags and versions), bench/sets/blind5 (one conference day of 12 talks, lightning talks to keynotes)
# and bench/sets/blind6 (8 AI-infrastructure talks, kept untouched as the report set of that stop's ranking trials),
# and of two written blind on 2026-12-06 in a later stop and measured once each: bench/sets/blind7 (12 talks and 60
# queries of one mixed cloud-native and HPC track, shaped like the hidden set) and bench/sets/blind8 (8 seminars by
# domain scientists who use the cluster), and bench/sets/blind9 (8 user-group meetup talks, each with audience
# questions and the speaker's answers; written blind on 2026-12-06 in the thirty-fifth stop, measured once) and
# bench/sets/blind10 (8 talks with questions said aloud: audience Q&A, interviews, rhetorical questions; the same
# stop, measured once), and bench/sets/blind11 (10 office-hours talks of a university's research computing, users'
# everyday problems in shared words; written blind in the thirty-seventh stop, measured once) and bench/sets/blind12
# (10 workshop talks in English read by espeak-ng voices of other languages, accented far past a person's; the same
# stop, measured once), and bench/sets/blind13 (12 talks of a computing centre's facility and energy work: power
# capping, cooling, outages' post-mortems; written blind in the thirty-eighth stop, measured once before the change
# it then showed the way to), and bench/sets/blind14 (12 talks on security and identity at a research computing
# centre: SSH certificates, MFA, federated logins, incidents; written blind in the thirty-ninth stop, measured once)
# and bench/sets/blind15 (12 talks on scientific workflow systems and research data pipelines, one an interview;
# the same stop, measured once), and bench/sets/blind16 (12 talks on porting scientific codes to GPUs and their
# performance engineering, one a three-voice panel) and bench/sets/blind17 (12 talks of a university's research
# software engineers: testing, packaging, citation, funding, one a three-voice panel; both written blind in the
# fortieth stop, measured once each), and bench/sets/blind18 (12 talks on HPC and AI cluster networks: fabrics,
# RDMA and collectives, topologies, telemetry, optics, one a three-voice panel) and bench/sets/blind19 (12 episodes
# of a podcast on careers and history in scientific computing, ten interviews, two solo; both written blind in the
# forty-first stop, measured once each), and bench/sets/blind20 (12 talks on quantum computing at HPC centres:
# hybrid workflows, GPU simulators, scheduling quantum jobs, one a three-voice panel) and bench/sets/blind21 (12 talks
# on buying and accepting a supercomputer: RFPs, benchmarks, acceptance, cost, power, a panel of centre directors;
# both written blind in the forty-second stop, measured once each), and bench/sets/blind22 (12 talks on scientific
# visualization and in-situ analysis: ParaView, Catalyst, ADIOS2, remote rendering, one a three-voice panel) and
# bench/sets/blind23 (12 talks on programming languages and compilers for science: Fortran, Julia, Chapel, Kokkos,
# LLVM, Numba, a four-voice panel; both written blind in the forty-third stop, measured once each), and
# bench/sets/blind24 (12 talks on resilience and failures at scale: checkpoint/restart, SCR, MTBF, silent data
# corruption, ULFM, a three-voice panel) and bench/sets/blind25 (12 talks on instrument data streaming to HPC:
# radio telescopes, synchrotron detectors, LHC triggers, cryo-EM, data transfer nodes, a three-voice panel; both
# written blind in the forty-fourth stop, measured once each), and bench/sets/blind26 (12 talks on operational weather
# forecasting and climate modelling: forecast suites against the clock, 4D-Var, ensembles, coupling, GRIB output,
# ecFlow and Cylc, a three-voice panel) and bench/sets/blind27 (12 talks on genomics and bioinformatics on shared
# clusters: sequencing volumes, variant calling, Nextflow and Snakemake on Slurm, controlled access, a three-voice
# panel; both written blind in the forty-fifth stop, measured once each), and bench/sets/blind28 (12 talks on
# computational chemistry and materials science: VASP, Quantum ESPRESSO, CP2K, GROMACS, LAMMPS, NAMD, licences,
# allocation proposals, machine-learned potentials, a three-voice panel) and bench/sets/blind29 (12 talks on engineering
# simulation: CFD with OpenFOAM and Fluent, meshing, RANS and LES, crash simulation, FlexLM, cloud bursting, a
# three-voice panel; both written blind in the forty-sixth stop, measured once each).
#
# usage: bash bench/make_sets.sh [OUTDIR]        (default: bench/out/sets, which git ignores)
#        SEED=21 bash bench/make_sets.sh bench/out/sets-21    (another rendering: other pauses and noise)
#
# Checks the corpora with corpus_rules.py first, then synthesises each with make_talks.py into OUTDIR/tune,
# OUTDIR/holdout, OUTDIR/fresh, OUTDIR/unseen, OUTDIR/overlap and OUTDIR/blind to OUTDIR/blind29. Every talk in these corpora carries its own voice / rate / noise, so
# --voices is only a fallback. Each output folder ends up a complete set like shared/eval/dev: <talk>.mp4,
# truth.json, feed.xml and corpus.json (the intermediate <talk>.wav files are removed unless KEEP_WAV=1). Needs espeak-ng, flite, sox, ffmpeg.
set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$bench/out/sets}"

# every set, in the order of their seeds: blind13 and after are numbered as they were written
halves="tune holdout fresh unseen overlap blind $(seq -f 'blind%g' -s ' ' 2 29)"
# shellcheck disable=SC2046  # one argument per set
python3 "$bench/corpus_rules.py" $(for half in $halves; do echo "$bench/sets/$half/corpus.json"; done)

seed=${SEED:-11}  # the tune half's; the holdout's is the next one, the fresh set's the one after
base=${SEED:-11}
for half in $halves; do
    [ "$half" = unseen ] && seed=$((seed + 17))  # 31 by default, as it was measured
    [ "$half" = overlap ] && seed=$((seed + 9))  # 41 by default, as it was measured
    [ "$half" = blind ] && seed=$((seed + 11))  # 53 by default, as it was measured
    [ "$half" = blind2 ] || [ "$half" = blind3 ] && seed=$((base + 50))  # 61 by default, as each was measured
    [ "$half" = blind4 ] || [ "$half" = blind5 ] && seed=$((base + 60))  # 71 by default, as each was measured
    [ "$half" = blind6 ] && seed=$((base + 56))  # 67 by default, as it was measured
    [ "$half" = blind7 ] && seed=$((base + 72))  # 83 by default, as it was measured
    [ "$half" = blind8 ] && seed=$((base + 78))  # 89 by default, as it was measured
    [ "$half" = blind9 ] && seed=$((base + 86))  # 97 by default, as it was measured
    [ "$half" = blind10 ] && seed=$((base + 90))  # 101 by default, as it was measured
    [ "$half" = blind11 ] && seed=$((base + 102))  # 113 by default, as it was measured
    [ "$half" = blind12 ] && seed=$((base + 116))  # 127 by default, as it was measured
    # from blind13 on, blindN's seed is base + 10 (N - 1): 131 for blind13 ... 291 for blind29 by default, as measured
    case "$half" in blind1[3-9] | blind[2-9][0-9]) seed=$((base + 10 * (${half#blind} - 1))) ;; esac
    echo "== $half -> $out/$half"
    python3 "$bench/make_talks.py" "$bench/sets/$half/corpus.json" "$out/$half" \
        --voices espeak-ng:en-us,flite:kal16 --seed "$seed"
    if [ "${KEEP_WAV:-0}" != 1 ]; then
        rm -f "$out/$half"/*.wav
    fi
    seed=$((seed + 1))
done
