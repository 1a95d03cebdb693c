from marketplace_agent.cli import main

raise SystemExit(main())
