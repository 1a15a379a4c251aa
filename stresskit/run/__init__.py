"""The run's definition and judgement: scenarios and the shape that drives them, pacing, the success
criteria, thresholds and per-kind availability, the run's life cycle, the embedded demo system,
the go / no-go suite. See ARCHITECTURE.md.
"""
