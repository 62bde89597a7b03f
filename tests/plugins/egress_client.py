"""
title: Egress client
description: fetches a URL the way community actions do; body["client"] picks the library
"""

import asyncio
import socket
import urllib.request


def with_urllib(body):
    with urllib.request.urlopen(body["url"], timeout=5) as response:
        return {"status": response.status, "body": response.read().decode()}


def with_socket(body):
    with socket.create_connection((body["host"], body["port"]), timeout=5) as sock:
        sock.sendall(f"GET {body['path']} HTTP/1.0\r\nHost: {body['host']}\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    return {"status": int(head.split()[1]), "body": payload.decode()}


async def with_asyncio(body):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(body["host"], body["port"]), 5)
    writer.write(f"GET {body['path']} HTTP/1.0\r\nHost: {body['host']}\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    head, _, payload = data.partition(b"\r\n\r\n")
    return {"status": int(head.split()[1]), "body": payload.decode()}


async def with_library(body):
    """The HTTP libraries community actions use, each unchanged and without proxy settings."""
    name = body["library"]
    if name == "requests":
        import requests

        response = requests.get(body["url"], timeout=5)
        return {"status": response.status_code, "body": response.text}
    if name == "httpx":
        import httpx

        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(body["url"])
        return {"status": response.status_code, "body": response.text}
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(body["url"], timeout=aiohttp.ClientTimeout(total=5)) as response:
            return {"status": response.status, "body": await response.text()}


class Action:
    async def action(self, body):
        client = body["client"]
        if client == "urllib":
            return await asyncio.to_thread(with_urllib, body)
        if client == "socket":
            return await asyncio.to_thread(with_socket, body)
        if client == "asyncio":
            return await with_asyncio(body)
        return await with_library(body)
