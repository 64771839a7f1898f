"""The chaos run: ``make chaos`` (``python -m tools.chaos``).

One embedded API (in this process, so its status-write journal is the
judge) serves a real Git repository that a writer thread changes at a
steady rate (spec edits, objects created and deleted). Two manager
replicas run the example reconcilers with leader election (and
checkpoints, when the build has them), each wrapped by
:mod:`.recording`, which reports every reconcile's key, uid and
generation on the replica's stdout. A seeded schedule (:mod:`.schedule`)
injects the faults of issue 12; then the run stops injecting, waits for
quiescence and checks (:mod:`.checks`):

* convergence: every object's status equals what :mod:`.reference`
  computes from the final Git state, ``observedGeneration == generation``;
* no lost work: every generation that existed longer than the convergence
  bound was reconciled;
* no stale write accepted and no two leaders' writes in overlapping terms
  (from the API's journal);
* no write loop: zero status writes over a quiet window after convergence;
* no crash other than the injected ones, no thread leak, RSS bounded.

It prints one JSON object with every figure and exits 0 only when every
check holds. A fault the run cannot inject (say, an unwritable checkpoint
directory on a build without checkpoints) is a failure, not a pass.
"""
