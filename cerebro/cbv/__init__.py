"""The ``.cbv`` compressed-volume pipeline: compress and decompress (:mod:`.compress`), the in-memory form
(:mod:`.compressed`), the file (:mod:`.container`, its header :mod:`.header`), decoding in a child process
(:mod:`.isolated`) and the measured round trip (:mod:`.roundtrip`)."""
