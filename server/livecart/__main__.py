from livecart.cli import main

raise SystemExit(main())
