"""The pure core, one subpackage per part: the deploy repo as data (repo/), what the app kinds name and
accept (kinds/), what a change does and the safeguards (change/, change/rules/), the trace and what runs
(trace/), health and the switch-back's decisions (health/), automatic delivery (deliver/). No git, no
Pulumi, no network, no environment: the edges read them and pass the values in."""
