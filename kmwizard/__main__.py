from kmwizard.cli import main

raise SystemExit(main())
