"""Results store → tidy tables → leaderboards (md/tex/csv/html) and figures."""
