"""Replay, the pure part: which recorded requests to send, rewritten how, and when.

- :mod:`.plan`: the schedule (recorded gaps, pacing, the timestamp shift) and the requests
  prepared in send order;
- :mod:`.rewrite`: one request rewritten for the target (DSN, auth form, project, encoding),
  with :mod:`.envelope_rewrite` (envelope headers and items), :mod:`.fresh_ids` (new event
  ids, kept consistent) and :mod:`.timeshift` (timestamps moved to now);
- :mod:`.rate_limits`: the categories of items and Sentry's rate-limit answers;
- :mod:`.results`: the outcome of each answer and the summary they add up to;
- :mod:`.undelivered`: which forwarded requests the upstream never took (``--undelivered``),
  and the answer record written for each of their answers;
- :mod:`.stored`: what the target's API says it stored of what it accepted (``--verify-stored``);
- :mod:`.uploads`: the uploaded files sent again through the target's chunk protocol
  (``--uploads``): chunking, the requests, what each assemble answer means.

The sender (``sentry_mirror.io.replay``) and its HTTP/1.1 client (``sentry_mirror.io.http1``)
do the I/O.
"""
