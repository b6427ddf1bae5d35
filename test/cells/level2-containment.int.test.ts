/** Level 2 (bubblewrap) keeps host files, writes, network and processes out, and lets the bus socket in. */
import { containmentSuite } from './containment.js';

containmentSuite(2);
