import { render } from 'preact';
import { App } from './app';
import { client } from './client';
import './styles.css';

render(<App />, document.getElementById('app')!);
void client.boot();
