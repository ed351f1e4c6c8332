import './base.css';
import './workspace.css';
import './kernels.css';
