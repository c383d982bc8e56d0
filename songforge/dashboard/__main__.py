from songforge.dashboard.admin_cli import main

raise SystemExit(main())
