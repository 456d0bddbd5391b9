from kmwizard.main import main

raise SystemExit(main())
