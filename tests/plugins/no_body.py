class Action:
    async def action(self, __id__):
        return __id__
