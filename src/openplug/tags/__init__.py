"""DevRev's ``tags.*``: the org's tags, which conversations name by id."""
