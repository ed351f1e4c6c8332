import { JupyterFrontEnd } from '@jupyterlab/application';
import { CommandRegistry } from '@lumino/commands';

import plugin from '../index';
import { CodeLabModel } from '../model';
import { ICodeLabModel, PANEL_ID } from '../tokens';
import { FakeServer } from './fakes';

describe('the plugin', () => {
  it('provides the model under its token, on the application server settings', async () => {
    expect(plugin.provides).toBe(ICodeLabModel);
    expect(plugin.autoStart).toBe(true);

    const server = new FakeServer();
    const added: string[] = [];
    const addWidgetExtension = jest.fn();
    const app = {
      docRegistry: { addWidgetExtension },
      commands: new CommandRegistry(),
      shell: {
        add: (widget: { id: string }) => added.push(widget.id),
        activateById: () => undefined
      },
      serviceManager: {
        serverSettings: server.settings(),
        kernelspecs: { refreshSpecs: jest.fn(() => Promise.resolve()) }
      },
      restored: new Promise<void>(() => undefined)
    } as unknown as JupyterFrontEnd;

    const model = (
      plugin.activate as (app: JupyterFrontEnd, ...rest: null[]) => unknown
    )(app, null, null, null, null, null, null, null) as ICodeLabModel;
    expect(model).toBeInstanceOf(CodeLabModel);
    expect(added).toEqual([PANEL_ID]);
    // the lease countdown with Extend goes into every notebook's toolbar
    expect(addWidgetExtension).toHaveBeenCalledWith(
      'Notebook',
      expect.objectContaining({ createNew: expect.any(Function) })
    );

    // other plugins use it through the token's interface
    await model.refresh();
    expect(model.signedIn).toBe(true);
    expect(server.callsTo('GET status')).toHaveLength(1);
    (model as CodeLabModel).dispose();
  });
});
