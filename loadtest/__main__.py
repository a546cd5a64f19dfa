"""`python -m loadtest` is `livecart-loadtest`."""

from loadtest.cli import main

raise SystemExit(main())
