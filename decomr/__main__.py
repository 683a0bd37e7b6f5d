from decomr.cli import main

raise SystemExit(main())
