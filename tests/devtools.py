"""Headless Chromium driven over the DevTools protocol, for the explorer's browser test.

A minimal websocket client (RFC 6455 text frames) keeps the tests free of extra packages.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--remote-debugging-port=0', '--window-size=1200,900']


def find_chromium():
    return shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')


class WebSocket(object):
    def __init__(self, host, port, path):
        self.sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode('ascii')
        self.sock.sendall(('GET {} HTTP/1.1\r\nHost: {}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                           'Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n').format(
                               path, host, port, key).encode('ascii'))
        response = b''
        while b'\r\n\r\n' not in response:
            response += self.sock.recv(1)
        assert b' 101 ' in response.split(b'\r\n')[0], response

    def send(self, text):
        payload = text.encode('utf-8')
        header = bytearray([0x81])
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack('>H', len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack('>Q', len(payload))
        mask = os.urandom(4)
        self.sock.sendall(bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, count):
        data = b''
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            assert chunk, 'the browser closed the connection'
            data += chunk
        return data

    def receive(self):
        message = b''
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack('>H', self._read(2))[0]
            elif length == 127:
                length = struct.unpack('>Q', self._read(8))[0]
            message += self._read(length)
            if first & 0x80:
                return message.decode('utf-8')


class Browser(object):
    """One headless Chromium with one page open at `url`; evaluate() runs JavaScript in it."""

    def __init__(self, url):
        self.profile = tempfile.mkdtemp(prefix='chromium_')
        self.process = subprocess.Popen([find_chromium()] + CHROMIUM_FLAGS + ['--user-data-dir=' + self.profile,
                                                                             'about:blank'],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, 'DevToolsActivePort')
        deadline = time.time() + 60
        while not (os.path.exists(port_file) and len(open(port_file).read().split()) == 2):
            assert time.time() < deadline and self.process.poll() is None, 'Chromium did not start'
            time.sleep(0.1)
        port, path = open(port_file).read().split()
        self.socket = WebSocket('127.0.0.1', int(port), path)
        self.next_id = 0
        target = self.call('Target.createTarget', url=url)['targetId']
        self.session = self.call('Target.attachToTarget', targetId=target, flatten=True)['sessionId']

    def call(self, method, session=None, **params):
        self.next_id += 1
        message = {'id': self.next_id, 'method': method, 'params': params}
        if session:
            message['sessionId'] = session
        self.socket.send(json.dumps(message))
        while True:
            answer = json.loads(self.socket.receive())
            if answer.get('id') == self.next_id:
                assert 'error' not in answer, answer
                return answer['result']

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call('Runtime.evaluate', session=self.session, expression=expression, awaitPromise=True,
                           returnByValue=True)
        assert 'exceptionDetails' not in result, result
        return result['result'].get('value')

    def wait_for(self, expression, timeout=60):
        """Polls until the expression is true; an error (the page still loading) counts as false."""
        guarded = '(() => {{ try {{ return !!({}); }} catch (e) {{ return false; }} }})()'.format(expression)
        deadline = time.time() + timeout
        while not self.evaluate(guarded):
            assert time.time() < deadline, 'timed out waiting for ' + expression
            time.sleep(0.1)

    def drag(self, start, end):
        """A real mouse drag, left button, from one (x, y) to another."""
        for kind, (x, y) in (('mousePressed', start), ('mouseMoved', end), ('mouseReleased', end)):
            self.call('Input.dispatchMouseEvent', session=self.session, type=kind, x=x, y=y, button='left',
                      buttons=1 if kind != 'mouseReleased' else 0, clickCount=1)

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)
