"""The pure core: the deploy repo as data (grammar, tree, snapshot, catalog, env config), what a change
does (changes, plan, order), the safeguards (rules/), the trace (history, outcomes, metrics). No git,
no Pulumi, no network at import: the edges are passed in."""
