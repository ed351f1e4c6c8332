import { LabIcon } from '@jupyterlab/ui-components';

import codelabSvgstr from '../style/icons/codelab.svg';

/** The CodeLab icon (sidebar tab, launcher card, settings). */
export const codelabIcon = new LabIcon({
  name: 'codelab-ext:codelab',
  svgstr: codelabSvgstr
});
