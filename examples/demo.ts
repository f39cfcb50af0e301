/**
 * `pnpm demo`: the first thing a newcomer runs. Until the actor demo lands (issue #4), it
 * shows the process-supervision core on hostile children.
 */
import "./process/hostile-children.js"
