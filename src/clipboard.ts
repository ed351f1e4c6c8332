import { Clipboard } from '@jupyterlab/apputils';

/** Copy text to the system clipboard (async API first, then the selection fallback). */
export async function copyText(text: string): Promise<void> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return;
    }
  } catch {
    // Not allowed (no focus, insecure origin): fall back below.
  }
  Clipboard.copyToSystem(text);
}
